"""`python -m bench.crash_test`: see handlers/testing/crash_drill.py (the test suite runs the same drill)."""
import sys

from handlers.testing.crash_drill import main

if __name__ == "__main__":
    sys.exit(main())
