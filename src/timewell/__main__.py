from timewell.cli import main

main()
