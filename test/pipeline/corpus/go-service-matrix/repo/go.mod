module gitlab.example.com/platform/api

go 1.22
