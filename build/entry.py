"""The frozen binary's entry point."""
from loomex_cli.__main__ import main

if __name__ == "__main__":
    main()
