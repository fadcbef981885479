from rnnkit_child.serve import main

main()
