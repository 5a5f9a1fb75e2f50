import sys

from saddlebook.publish.cli import main

sys.exit(main())
