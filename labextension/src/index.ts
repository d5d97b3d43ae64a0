/**
 * The maestro_nb JupyterLab extension: a workflow debugger that feels like JupyterLab's own.
 * A Workflows sidebar on the right (breakpoints, paused attempts, the selected attempt's
 * params and a Resume / Step / Skip / Stop / Retry toolbar), red-dot breakpoints in the
 * gutter of `%%workflow` cells, and a live DAG view of `application/vnd.maestro-nb.dag+json`.
 * Everything reads one model per kernel, filled by the `maestro_nb` comm (docs/protocol.md).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import {
  fastForwardIcon,
  LabIcon,
  refreshIcon,
  runIcon,
  stepOverIcon,
  stopIcon
} from '@jupyterlab/ui-components';

import { Connections } from './connection';
import { DagRenderer } from './dag';
import { NotebookGutters } from './gutter';
import { NotebookLink } from './link';
import type { AttemptAction } from './protocol';
import { DAG_MIME } from './protocol';
import { SIDEBAR_ID, WorkflowSidebar } from './sidebar';

/** The plugin's commands. */
export namespace CommandIDs {
  export const resume = 'maestro-nb:resume';
  export const step = 'maestro-nb:step';
  export const skip = 'maestro-nb:skip';
  export const stop = 'maestro-nb:stop';
  export const retry = 'maestro-nb:retry';
  export const openSidebar = 'maestro-nb:open-sidebar';
}

const workflowIcon = new LabIcon({
  name: 'maestro_nb:workflow',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="9" y="2" width="6" height="5" rx="1"/><rect x="2" y="17" width="6" height="5" rx="1"/>' +
    '<rect x="16" y="17" width="6" height="5" rx="1"/>' +
    '<path d="M11.25 7h1.5v4h5.5a1 1 0 0 1 1 1v5h-1.5v-4.5h-11V17h-1.5v-5a1 1 0 0 1 1-1h5.5z"/>' +
    '<circle cx="19" cy="5" r="3" fill="#d32f2f" class="jp-icon-none"/></g></svg>'
});

const ACTIONS: { action: AttemptAction; id: string; label: string; caption: string; icon: LabIcon }[] = [
  { action: 'resume', id: CommandIDs.resume, label: 'Resume', caption: 'Resume the selected paused attempt', icon: runIcon },
  {
    action: 'step',
    id: CommandIDs.step,
    label: 'Step',
    caption: 'Resume it, and pause again before the next step',
    icon: stepOverIcon
  },
  { action: 'skip', id: CommandIDs.skip, label: 'Skip', caption: 'End it SKIPPED without running it', icon: fastForwardIcon },
  { action: 'stop', id: CommandIDs.stop, label: 'Stop', caption: 'End it STOPPED: its successors do not run', icon: stopIcon },
  {
    action: 'retry',
    id: CommandIDs.retry,
    label: 'Retry',
    caption: 'Replace it by a new attempt, bound afresh (after fixing the step)',
    icon: refreshIcon
  }
];

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'maestro_nb:plugin',
  description: 'A workflow debugger for maestro_nb notebooks.',
  autoStart: true,
  requires: [INotebookTracker, IRenderMimeRegistry],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null
  ) => {
    const connections = new Connections();
    const links = new Map<NotebookPanel, NotebookLink>();
    const sidebar = new WorkflowSidebar(app.commands, ACTIONS);
    sidebar.title.icon = workflowIcon;

    const openAttempts = (link: NotebookLink, workflow: string, step: string) => {
      const model = link.connection?.model;
      if (!model) {
        return;
      }
      model.setFocus({ workflow, step });
      const first = model.visiblePaused()[0];
      if (first) {
        model.select(first.key);
      }
      sidebar.connection = link.connection;
      app.shell.activateById(SIDEBAR_ID);
    };

    // A DAG view outside a notebook (an output view of its own) is drawn, not live.
    rendermime.addFactory(
      { safe: true, mimeTypes: [DAG_MIME], defaultRank: 0, createRenderer: () => new DagRenderer(null, () => undefined) },
      0
    );

    const follow = () => {
      const panel = tracker.currentWidget;
      sidebar.connection = panel ? links.get(panel)?.connection ?? null : null;
      app.commands.notifyCommandChanged();
    };

    tracker.widgetAdded.connect((_, panel) => {
      const link = new NotebookLink(panel, connections);
      links.set(panel, link);
      panel.content.rendermime.addFactory(
        {
          safe: true,
          mimeTypes: [DAG_MIME],
          defaultRank: 0,
          createRenderer: () => new DagRenderer(link, (workflow, step) => openAttempts(link, workflow, step))
        },
        0
      );
      const gutters = new NotebookGutters(panel, link);
      link.changed.connect(() => {
        if (tracker.currentWidget === panel) {
          follow();
        }
      });
      panel.disposed.connect(() => {
        gutters.dispose();
        link.dispose();
        links.delete(panel);
      });
    });
    tracker.currentChanged.connect(follow);

    const selected = () => sidebar.connection?.model.selected ?? null;
    for (const { action, id, label, caption, icon } of ACTIONS) {
      app.commands.addCommand(id, {
        label,
        caption,
        icon,
        isEnabled: () => selected() !== null,
        execute: async () => {
          const attempt = selected();
          const connection = sidebar.connection;
          if (attempt !== null && connection !== null) {
            await connection.request(action, { keys: [attempt.key] }).catch(() => undefined);
          }
        }
      });
    }
    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Show the Workflows sidebar',
      execute: () => app.shell.activateById(SIDEBAR_ID)
    });

    // Buttons follow the selection: tell the registry whenever the shown model changes.
    let shown: NotebookLink | null = null;
    const onShownChanged = () => app.commands.notifyCommandChanged();
    tracker.currentChanged.connect(() => {
      shown?.changed.disconnect(onShownChanged);
      shown = tracker.currentWidget ? links.get(tracker.currentWidget) ?? null : null;
      shown?.changed.connect(onShownChanged);
    });

    app.shell.add(sidebar, 'right', { rank: 600 });
    if (restorer) {
      restorer.add(sidebar, SIDEBAR_ID);
    }
    follow();
  }
};

export default plugin;
