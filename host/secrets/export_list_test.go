package secrets

// SetListLimits shrinks a listing's bounds for a test and returns a
// function that restores them.
func SetListLimits(entries, bytes, budget int) func() {
	e, b, l := maxListEntries, maxListBytes, listBudget
	maxListEntries, maxListBytes, listBudget = entries, bytes, budget
	return func() { maxListEntries, maxListBytes, listBudget = e, b, l }
}
