"""`python -m pipeline_cli ...` (installed: `mlpipeline ...`)."""

from pipeline_cli.cli import main

if __name__ == "__main__":
    main()
