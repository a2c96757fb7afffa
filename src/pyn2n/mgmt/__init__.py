"""pyn2n.mgmt"""
