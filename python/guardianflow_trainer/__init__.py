"""guardianflow trainer bridge: run one ultralytics training job in a child process.

Usage: ``python -m guardianflow_trainer --job JOB.json`` (or ``--job -`` to read the job from stdin).
Events are JSON objects, one per line, on the process's original stdout; everything else goes to
stderr. See ``guardianflow_trainer.bridge`` for the protocol. It always trains; tests replay a
recorded training through a separate entry point, ``python -m guardianflow_trainer.replay``.
"""

__version__ = "0.1.0"
