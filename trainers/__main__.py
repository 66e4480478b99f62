import multiprocessing
import sys

from trainers.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
