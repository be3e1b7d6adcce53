package main

import "time"

func runLoad(rate int, d time.Duration, actions, workers int) error { return nil }
