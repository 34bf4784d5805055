module github.com/thingpress/thingpress

go 1.26.8
