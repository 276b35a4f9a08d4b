"""python -m logstep"""

from logstep.cli import main

raise SystemExit(main())
