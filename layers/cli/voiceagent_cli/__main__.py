import sys

from voiceagent_cli.main import main

sys.exit(main())
