from mr_storage_initializer.cli import main

raise SystemExit(main())
