"""Leader-only machinery: rebuilt from the state store on election, torn down on loss."""
