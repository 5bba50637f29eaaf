from kapplan.cli import main

main()
