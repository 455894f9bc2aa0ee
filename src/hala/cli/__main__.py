from hala.cli import main

main()
