"""pyn2n.transforms"""
