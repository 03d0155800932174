"""Unit conversions, named for their units (one definition each)."""

#: joules in one kilowatt-hour
J_PER_KWH = 3.6e6
#: grams in one kilogram / one tonne
G_PER_KG = 1000.0
G_PER_T = 1_000_000.0
#: seconds in one hour
S_PER_H = 3600.0
#: millijoules in one joule, milliwatts in one watt, microjoules in one joule
MJ_PER_J = 1000.0
MW_PER_W = 1000.0
UJ_PER_J = 1_000_000.0
