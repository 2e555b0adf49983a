"""`python -m bench.outage_test`: see handlers/testing/outage_drill.py (the test suite runs the same drill)."""
import sys

from handlers.testing.outage_drill import main

if __name__ == "__main__":
    sys.exit(main())
