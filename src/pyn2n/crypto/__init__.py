"""pyn2n.crypto"""
