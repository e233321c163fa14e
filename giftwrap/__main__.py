import sys

from giftwrap.cli.app import main

sys.exit(main())
