// Package tests_go holds the tests, examples and fuzz targets of package skyrs,
// kept apart from the code so that they exercise only its exported API.
package tests_go
