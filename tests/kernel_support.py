"""A real kernel for tests: started in a folder, with a blocking client, shut down on close()."""

from __future__ import annotations

from jupyter_client.manager import KernelManager

READY_TIMEOUT_S = 60


class RealKernel:
    """A python3 kernel started in `cwd` and a blocking client whose channels are running."""

    def __init__(self, cwd: str):
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=READY_TIMEOUT_S)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
