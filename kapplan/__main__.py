"""``python -m kapplan``; guarded so worker processes can import it safely."""

from kapplan.cli import main

if __name__ == "__main__":
    main()
