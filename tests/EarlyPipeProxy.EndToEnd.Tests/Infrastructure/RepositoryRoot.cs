namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>The checkout the tests run from (the directory holding EarlyPipeProxy.sln), for scripts and dashboards.</summary>
public static class RepositoryRoot
{
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EarlyPipeProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("EarlyPipeProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
