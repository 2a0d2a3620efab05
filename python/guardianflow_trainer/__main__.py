"""Entry point for ``python -m guardianflow_trainer``.

Only the standard library is imported before ``bridge.main()`` has moved fd 1 aside: the event
channel must be claimed before ultralytics/torch get a chance to print anything.
"""

import sys

from guardianflow_trainer.bridge import main

if __name__ == "__main__":
    sys.exit(main())
