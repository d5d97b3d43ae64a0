"""A sweep run as a batch job: Monte Carlo estimates of pi over sample sizes and seeds."""

import sys
import threading
import time

import numpy as np

DEFINITION = """
description: Monte Carlo estimates of pi over sample sizes and seeds
steps:
  - id: estimate
    foreach:
      samples: [1000, 10000, 100000, 1000000]
      seed: [0, 1, 2, 3]
    run: estimate_pi
  - id: summary
    after: [estimate]
    run: summarize
"""


def estimate_pi(samples, seed):
    """4 x the share of random points of the unit square that fall inside the quarter circle."""
    rng = np.random.default_rng(seed)
    x, y = rng.random(samples), rng.random(samples)
    estimate = 4 * np.count_nonzero(x * x + y * y <= 1.0) / samples
    return {"estimate": estimate, "error": round(abs(estimate - np.pi), 6)}


def summarize(estimate):
    """The best estimate and the largest error of the sweep."""
    errors = [out["error"] for out in estimate]
    return {"best": min(errors), "worst": max(errors)}


def main(path):
    from maestro_nb import Engine

    never = threading.Event()

    def estimate_pi_in_the_job(samples, seed):
        if (samples, seed) == (1_000_000, 3):
            never.wait()  # still computing when the job is killed
        return estimate_pi(samples, seed)

    namespace = {"estimate_pi": estimate_pi_in_the_job, "summarize": summarize}
    engine = Engine(path, namespace, executor="threads", workers=2)
    engine.define("pi", DEFINITION)
    engine.set_breakpoint("pi.estimate", pause="after", when="output['error'] > 0.02", name="review")
    engine.run("pi", background=True)
    # Wait until every iteration but the one computing has ended or paused in the file.
    while True:
        counts = dict(engine.sql(
            "SELECT status, count(*) FROM iterations WHERE step_id = 'estimate' GROUP BY status"
        ).itertuples(index=False))
        if counts.get("RUNNING") == 1 and counts.get("SUCCEEDED", 0) + counts.get("PAUSED", 0) == 15:
            break
        time.sleep(0.05)  # polling what is committed to the file
    print("in the file:", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), flush=True)
    never.wait()


if __name__ == "__main__":
    main(sys.argv[1])
