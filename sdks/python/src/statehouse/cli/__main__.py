"""``python -m statehouse.cli ...``: the same as ``statehousectl ...``."""

from .main import main

if __name__ == "__main__":
    main()
