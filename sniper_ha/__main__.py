from sniper_ha.cli import main

main()
