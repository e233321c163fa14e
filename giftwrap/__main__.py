import sys

from giftwrap.shell import main

sys.exit(main())
