from shoreup.cli import main

main()
