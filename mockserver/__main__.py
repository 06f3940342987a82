from mockserver.harness.cli import main

raise SystemExit(main())
