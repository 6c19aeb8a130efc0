"""What the seed papers report, as data, so a report can put our numbers beside theirs."""
