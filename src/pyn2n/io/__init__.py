"""pyn2n.io"""
