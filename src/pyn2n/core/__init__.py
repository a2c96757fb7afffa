"""pyn2n.core"""
