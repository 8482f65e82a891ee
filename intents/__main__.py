import sys

from intents.cli import main

sys.exit(main())
