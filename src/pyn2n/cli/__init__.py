"""pyn2n.cli"""
