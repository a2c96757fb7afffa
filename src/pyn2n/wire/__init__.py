"""pyn2n.wire"""
