from clapbench.cli import main

main()
