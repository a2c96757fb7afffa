"""pyn2n.lab"""
