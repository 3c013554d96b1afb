module github.com/tenantui/tenantui

go 1.26.8
