"""One module per bastion-runc verb: OPTIONS, SUMMARY, ARGUMENTS and run(ctx, values, args)."""
