package main

func runPlot(args []string) error { return usagef("plot: not built yet") }
