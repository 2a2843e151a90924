"""Command-line faces of bastion: `runc` (bastion-runc) and `front` (bastion).

Nothing imports cli.
"""
