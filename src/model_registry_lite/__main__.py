from model_registry_lite.cli import main

raise SystemExit(main())
