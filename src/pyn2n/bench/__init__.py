"""pyn2n.bench"""
