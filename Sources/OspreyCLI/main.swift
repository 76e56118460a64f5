print("osprey")
