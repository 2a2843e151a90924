"""bastion-runc: runc's command line over `bastion.runtime`.

Start-up time is a feature here: no argparse (10 ms), no logging, commands imported lazily.
"""
