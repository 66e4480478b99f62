import logging
import multiprocessing
import os
import sys

from trainers.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    code = main()
    # Interpreter teardown after torch and scikit-learn took over 3 s here
    # (2 shared CPU cores), longer than a cancel may take. The project is
    # closed and every result committed at this point, so skip the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
